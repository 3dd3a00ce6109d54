/**
 * TensorFlow.js as the engine runs it: tfjs-core with every gradient registered (its CommonJS entry registers
 * none), the plain-JS CPU backend, and the WebAssembly backend (registered on import; its .wasm path is set before
 * use). Loaded by model/tf.ts on first use only; the build makes it a bundle of its own, out/tfjs.js.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';

export { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
export { tf };
