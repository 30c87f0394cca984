"""The job entry points: one script per step, run by AWS Glue, EMR Serverless or `python <script>`.

`lakehouse deploy` uploads every script here except this file as a job script; the whole
`glue_scripts` package travels in the `--extra-py-files` zip. What the scripts share is
`glue_scripts.job_runtime`; what they run is `glue_scripts.steps`.
"""
