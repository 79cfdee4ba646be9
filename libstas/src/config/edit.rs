//! Line-preserving edits of INI files (sys.conf) for stasadm. (Filled by the identity work.)
