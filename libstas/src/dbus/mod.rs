//! D-Bus adapters: the org.nvmexpress.staf / .stac interfaces and their client proxies. The only zbus importer besides (planned) Avahi discovery.
