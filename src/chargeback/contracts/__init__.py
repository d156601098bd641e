"""Table contracts: every table the product reads or writes, with its grain, primary key and column comments."""
