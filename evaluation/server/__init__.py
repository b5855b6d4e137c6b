"""The local Rekognition-protocol server and the `serve` command's handler."""
