"""Training: the skorch net, its data, schedules and callbacks.

- ``_net``: :class:`ArithmeticNet`, skorch's ``NeuralNetRegressor`` with its
  documented hooks overridden for small networks;
- ``_data``: tensors on the device, batches, the held-out split, the seeds;
- ``_schedules``: the regulariser's and the learning rate's schedules;
- ``_private``: the one module that calls private torch and skorch APIs, with a
  switch to turn them off;
- ``_callbacks``: thin callbacks over :mod:`sknalu.exact`, reporting through the
  history;
- ``_plan``: the one place that knows the callbacks' order and reads their reports.
"""
