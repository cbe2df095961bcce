"""Animate a photo: living portraits, face reenactment from a driving video, a talking photo.

No motion network can be had offline, so this is the classical, landmark-driven pipeline:

1. `rig`: MediaPipe Face Mesh (478 points) on the source photo once; per driving frame too for
   reenactment. Driving motion is taken relative to a reference frame (the first, or a neutral one
   found in the video) and split into head pose (a 3-D similarity fitted on the rigid points of
   the face) and expression (what is left, in the reference's face frame, in face-size units), so
   it can be retargeted onto a face of other proportions. A parametric rig (blink, smile, jaw,
   lip spread and rounding, brows) gives the same expression displacements for the built-in
   motions and for speech visemes.
2. `warp`: a thin-plate spline from the moved landmarks (plus fixed points on a ring around the
   head and on the image border) back to the photo, evaluated on a coarse grid in torch and
   upsampled, faded to zero outside the head so background and body stay still, then one
   `grid_sample` (GPU when there is one). The mouth opening is painted with a dark cavity and a
   hint of teeth; head pose is clamped to what a 2-D warp can show.
3. `motions`: procedural look-around, nod, smile, blink and tilt, slightly randomized.
4. `speech`: espeak-ng (libespeak-ng through ctypes) for the audio and phoneme timing, visemes,
   WebVTT subtitles.
5. `encode`: H.264 MP4 (faststart) with AAC audio from frames and PCM samples.
"""
