//! Console-socket receiver: placeholder filled in by terminal tests.
