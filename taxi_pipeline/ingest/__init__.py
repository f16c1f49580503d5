"""From a file as the TLC publishes it to what the pipeline uses: the zone shapes and
locating trips from their coordinates (`zone_shapes`, `locate`)."""
