"""Faces: detection, landmarks and 128-d encodings (dlib through face_recognition, the ResNet
through onnxruntime), matching, liveness and enrolment-photo quality."""
