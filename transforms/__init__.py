"""SQL models that turn raw UtilityAPI tables into the tables analysts query."""
