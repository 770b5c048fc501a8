"""Test support code: stand-ins for services that cannot be reached from a test machine (the Hugging Face Hub)."""
