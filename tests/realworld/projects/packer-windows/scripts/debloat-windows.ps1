# debloat-windows: one step of the Windows base box
Write-Output "debloat-windows"
