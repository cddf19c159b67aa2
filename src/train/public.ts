/** @file Public surface of training: the step session, optimizers, schedules, metrics, checkpoints. */
export {
  TrainSession, buildStepGraph, type StepGraphSpec, type StepResult, type EvalResult, type SessionState, type StateSnapshot, type TrainSessionOptions,
} from "./step-session.js";
export { type OptimizerConfig, createOptimizer } from "./optim/index.js";
export { createLrSchedule, timmCosineLr, type LrScheduleConfig, type LrSchedule } from "./schedule.js";
export { AccuracyMeter, AccuracyTracker, RunningMean, topKCounts } from "./metrics.js";
export { saveTrainingCheckpoint, loadTrainingCheckpoint, type TrainingCheckpoint } from "./checkpoint.js";
export { train, TRAINER_DEFAULTS, RUN_FILES, type TrainOptions, type TrainResult, type TrainerConfig } from "./trainer.js";
export { Evaluator, evaluateLoader, type EvalSummary, type Prediction } from "./evaluate.js";
export { predictFiles, type ImagePrediction } from "./predict.js";
