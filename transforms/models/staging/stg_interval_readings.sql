{{ staged_interval_readings() }}
