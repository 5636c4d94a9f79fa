"""The folder of the dashboard's entry script: Streamlit puts a script's folder on ``sys.path``, so it holds nothing else."""
