"""Networking: pure planners (IPAM, ports, FreeBSD bridge/epair/pf and Linux
bridge/veth/nft plans), the network store, and one network driver per host OS
that only carries the plans out."""
