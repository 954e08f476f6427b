"""The `c360` command line (`c360_cli.main`): the top of the import graph, above the libraries in
`c360` and the Dagster definitions in `orchestration`."""
