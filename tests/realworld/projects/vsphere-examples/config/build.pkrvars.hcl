build_username = "builder"
build_password = "placeholder-password"
