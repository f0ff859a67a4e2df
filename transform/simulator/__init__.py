"""Home-feed impression-log simulator: the package's built-in data source.

Why: a multi-task ranker needs logs whose true action probabilities are known, so that the
evaluation can compare a model with the truth and not only with noisy labels. The simulator
draws a world (users, creators, pins with hidden latents), then feed requests: a user, a
retrieved and pre-ranked set of candidate pins at slots 0..K-1, and one impression row per
candidate with the true probability of every action and a label drawn from it. When the
spec names them, each row also carries engagement counters of the 30 days before the logs
for its pin, its user, and its user on the pin's topic, as production feeds log them.

One module per concern, each importing only the ones listed before it:
  config.py      SimulatorConfig: the world's and the splits' sizes (no TensorFlow)
  streams.py     the independent random streams drawn from the config's seed
  world.py       the user and pin tables, topic affinity, the latents behind logged rows
  retrieval.py   feed requests: users, hours, retrieved candidates, the production ranker
  behaviour.py   true action probabilities from the latents, and labels drawn from them
  history.py     the 30-day engagement counters
  columns.py     the logged columns: names and dtypes, check against a spec, values per row
  shards.py      the shards of each split and the rows of one shard
  records.py     serialised tf.Examples and TFRecord files
  stats.py       row counts and label rates per split, for metadata.json
  simulate.py    `simulate()`: every split's shards, the schema and metadata.json
"""
