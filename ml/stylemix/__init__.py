"""Style mixing and toonify: a differentiable torch MobileStyleGAN, projection, mixing, looks."""
