"""What lives in the user's account beyond one call: stack outputs, the batch, the Custom Labels
lifecycle and its evaluation summary; each thing that costs money while it exists has a guard."""
