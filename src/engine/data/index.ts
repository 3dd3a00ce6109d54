export * from './types';
export { splitRanges, rangeSize } from './splits';
export { makeSyntheticFeatures } from './synthetic';
export type { SyntheticOptions } from './synthetic';
export { makeLabelScheme } from './labels';
export { TaskData, gatherExemplars, EVAL_SET_SPECS } from './sampler';
export { loadTaskData, loadFeatureBank } from './load';
