"""nnfunc's wire contract, package ``nnfunc.v1`` (generated from the .proto files beside)."""
