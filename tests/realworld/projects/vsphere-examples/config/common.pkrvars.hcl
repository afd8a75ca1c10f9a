common_iso_datastore       = "ds-iso-01"
common_data_source         = "disk"
common_template_conversion = false
common_ovf_export_enabled  = true
