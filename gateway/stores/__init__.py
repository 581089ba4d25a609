"""Storage ports (the ADR's store SPI) and their memory and Redis adapters."""
