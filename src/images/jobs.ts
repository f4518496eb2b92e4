/**
 * The jobs a helper thread runs for image sampling (sample.ts): the library's model jobs
 * (src/model/helper-jobs.ts) plus `guidedSolve`, one share of a guided sampling run. Loaded inside
 * a helper by src/core/worker.cjs.
 */
import * as tf from "@tensorflow/tfjs";
import { jobs as modelJobs } from "../model/helper-jobs";
import { VelocityModel } from "../model/mlp";
import { guidedSolve, type GuidedSolveJob } from "./sample";

export { initHelper } from "../model/helper-jobs";

export const jobs = {
  ...modelJobs,
  guidedSolve(job: GuidedSolveJob) {
    const model = new VelocityModel(job.config, job.theta);
    const x0 = tf.tensor2d(job.x0, [job.rows, model.config.dim]);
    const solution = guidedSolve(model, x0, job);
    try {
      // A copy: the array is moved to the main thread and must not share a tensor's storage.
      const x = (solution.x.dataSync() as Float32Array).slice();
      return { result: { x }, transfer: [x.buffer as ArrayBuffer] };
    } finally {
      tf.dispose([x0, solution.x]);
      model.dispose();
    }
  },
};
