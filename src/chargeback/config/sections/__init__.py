"""The config file's sections, one module per subject; `document` reads the top level and assembles them."""
