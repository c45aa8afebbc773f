"""The pure .saec file format: header schema and container framing. No compute, no image processing."""
