/** The one forward interface (forward.ts) and what decides which engine runs it (support.ts). */
export { Forward, activeClamps } from './forward';
export type { EngineName, EnginePreference, ForwardOptions, ForwardOutput, ForwardSource } from './forward';
export { fastForwardUnsupported } from './support';
