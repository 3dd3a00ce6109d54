// Storage/IO layer: file formats (safetensors, npy, HDF5 features), crash-safe writes, run folders.
export * from './safetensors';
export * from './npy';
export * from './atomic';
export * from './featureFile';
export * from './runStore';
export * from './runLock';
