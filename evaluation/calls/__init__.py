"""Calling Rekognition once per image: backends, the response cache, the runner, rate limits, prices
and quotas."""
