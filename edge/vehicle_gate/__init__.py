"""Vehicle gates: loop, camera, plate reader, vote, decision from the cached lists, barrier;
tailgating watch."""
