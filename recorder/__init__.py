"""Recording, retention and integrity of live lessons (REC-1/2/3), built by the recorder issue."""
