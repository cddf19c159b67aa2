/** @file The part of training that runs in browsers: the step session, optimizers, schedules and metrics (no trainer loop, files or data loaders). */
export { TrainSession, buildStepGraph, type StepGraphSpec, type StepResult, type EvalResult, type SessionState } from "./step-session.js";
export { type OptimizerConfig, createOptimizer } from "./optim/index.js";
export { createLrSchedule, timmCosineLr, type LrScheduleConfig, type LrSchedule } from "./schedule.js";
export { AccuracyMeter, AccuracyTracker, RunningMean, topKCounts } from "./metrics.js";
