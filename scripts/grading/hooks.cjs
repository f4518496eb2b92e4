// How tensors and models travel for the autograder's channels: a library (the course's src/, the
// clean checker's or the student's) gives its own tf and VelocityModel, and an endpoint sends and
// rebuilds them as numbers with that library.
"use strict";
const { WireError } = require("./codec.cjs");

/** Sets `endpoint`'s tensor and model hooks to `fm`'s TensorFlow.js and VelocityModel. */
function libraryHooks(endpoint, fm) {
  endpoint.tensor = {
    encode: (v) =>
      fm && v instanceof fm.tf.Tensor
        ? {
            dtype: v.dtype,
            shape: v.shape.slice(),
            data: v.isDisposed ? null : v.dataSync(),
            disposed: v.isDisposed,
          }
        : null,
    decode: (spec) => {
      if (!spec.disposed) return fm.tf.tensor(spec.data, spec.shape, spec.dtype);
      // A tensor the student's kernel had disposed: one of the same shape, disposed here too.
      const t = fm.tf.zeros(spec.shape, spec.dtype);
      t.dispose();
      return t;
    },
  };
  endpoint.model = {
    encode: (v) =>
      fm && fm.VelocityModel && v instanceof fm.VelocityModel
        ? { config: v.config, theta: v.theta }
        : null,
    decode: (spec) => {
      if (!spec.theta.every(Number.isFinite))
        throw new WireError("a model with parameters that are not finite");
      try {
        return new fm.VelocityModel(fm.velocityModelConfig(spec.config), spec.theta);
      } catch (e) {
        throw new WireError(`a model that does not fit its architecture: ${e.message}`);
      }
    },
  };
  return endpoint;
}

module.exports = { libraryHooks };
