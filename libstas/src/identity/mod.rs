//! Host identity: NQN, ID, key and symbolic name. (Filled by the identity work.)
