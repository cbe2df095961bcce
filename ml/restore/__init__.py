"""Old-photo restoration: colorization (propagation, reference, model slot) and enhancement."""
