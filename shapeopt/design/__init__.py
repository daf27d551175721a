"""The optimizers: the reduced functional, their results, SLSQP with adjoint gradients, the trust region
(Newton steps or a corrected surrogate) and the surrogate search."""
