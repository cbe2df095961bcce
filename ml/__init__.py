"""Model code for face recognition and effects; plain Python over numpy, no Flask."""
