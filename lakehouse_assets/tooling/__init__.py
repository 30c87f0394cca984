"""Tools beside the code location, run from the `lakehouse` CLI: deployment to AWS and the data generator.

Neither is imported by the definitions, and neither ships in the Glue bundle.
"""
