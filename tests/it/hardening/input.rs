//! Input checks and login costs: control characters, bad URLs, wrong passwords.
