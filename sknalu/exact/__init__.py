"""Exactness: the snap, the saddle escape, and the thresholds that judge them.

Pure functions on tensors and on networks reached through their own interface
(duck typing); nothing here imports the units or the network.

- ``_tolerances``: every threshold that decides "exact", "fits", "no worse" or
  "simple", and its test;
- ``_errors``: the errors a network is judged by, per row, per copy, held out;
- ``_numbers``: the numbers a formula is written with, discrete weights and
  simple constants;
- ``_least_squares``: least-squares solutions of a unit's weights;
- ``_snap``: snapping a trained network's weights onto their discrete values;
- ``_escape``: leaving saddle points along negative curvature.
"""
