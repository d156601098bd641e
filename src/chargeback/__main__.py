from chargeback.cli import entry_point

entry_point()
