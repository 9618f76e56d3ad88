"""`python -m meshplane.terraform` runs the Terraform provider (Terraform starts it; see runner.py)."""

from meshplane.terraform.runner import main

main()
