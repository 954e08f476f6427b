"""Customer KPI models that need more than SQL: BG/NBD, Gamma-Gamma and predicted CLV (`c360.kpis.clv`)."""
