variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "ami_name" {
  type = string
}

variable "volume_size" {
  type    = number
  default = 30
}

variable "extra_volumes" {
  type = map(number)
  default = {}
}
