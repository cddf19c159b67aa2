/** @file Public surface of training: the step session, optimizers, schedules, metrics, checkpoints. */
export { TrainSession, buildStepGraph, type StepGraphSpec, type StepResult, type EvalResult, type SessionState } from "./step-session.js";
export { type OptimizerConfig, createOptimizer } from "./optim/index.js";
export { createLrSchedule, timmCosineLr, type LrScheduleConfig, type LrSchedule } from "./schedule.js";
export { AccuracyMeter, AccuracyTracker, RunningMean, topKCounts } from "./metrics.js";
export { saveTrainingCheckpoint, loadTrainingCheckpoint, type TrainingCheckpoint } from "./checkpoint.js";
