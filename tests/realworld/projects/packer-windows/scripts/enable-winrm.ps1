# enable-winrm: one step of the Windows base box
Write-Output "enable-winrm"
