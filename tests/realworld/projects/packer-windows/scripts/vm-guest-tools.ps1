# vm-guest-tools: one step of the Windows base box
Write-Output "vm-guest-tools"
