/** The fast training path: hand-written forward/backward on WebAssembly kernels (see model.ts). */
export { FastModel, supports, unsupportedReason } from './model';
export type { FastOptions, FastResult, FastModelOptions } from './model';
export type { FastBatch, ExemplarBatch } from './inputs';
export { FastAdam } from './adam';
export { fastBatch } from './batch';
export { wasmVariantSupported, resolveVariant } from './kernels';
export type { WasmVariant, WasmPreference } from './kernels';
