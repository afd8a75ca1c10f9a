# set-winrm-automatic: one step of the Windows base box
Write-Output "set-winrm-automatic"
